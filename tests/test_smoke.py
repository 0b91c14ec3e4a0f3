from index import Archive


async def test_seed_question_is_quoted_verbatim(seeded: Archive) -> None:
    answer = await seeded.ask("When did North Korea carry out its second nuclear test?")
    assert answer.quotes
    article = await seeded.article(answer.quotes[0].article_id)
    for quote in answer.quotes:
        assert article.body[quote.start : quote.end] == quote.text
    assert "nuclear test in May" in " ".join(q.text for q in answer.quotes)
