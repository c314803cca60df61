"""Deployment: promote the validated ``@challenger`` to ``@champion``.

Batch inference and the serving endpoint load ``models:/<name>@champion``, so moving the alias is
the deployment. Only a version that validation tagged ``validation_status=passed`` is promoted;
anything else raises :class:`PromotionBlocked` and the champion stays where it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .tracking import CHALLENGER, CHAMPION, PASSED, VALIDATION_STATUS_TAG, client, version_with_alias

logger = logging.getLogger(__name__)


class PromotionBlocked(RuntimeError):
    """The challenger may not become champion (missing, or not validated)."""


@dataclass(frozen=True)
class Promotion:
    """A completed promotion."""

    model_name: str
    version: str
    previous_champion: str | None

    @property
    def changed(self) -> bool:
        """Whether the champion moved (promoting the current champion again changes nothing)."""
        return self.version != self.previous_champion


def promote_challenger(model_name: str) -> Promotion:
    """Move ``@champion`` to the version aliased ``@challenger`` if validation passed it."""
    version = version_with_alias(model_name, CHALLENGER)
    if version is None:
        raise PromotionBlocked(f"{model_name} has no version aliased @{CHALLENGER}")
    registry = client()
    status = registry.get_model_version(model_name, version).tags.get(VALIDATION_STATUS_TAG)
    if status != PASSED:
        raise PromotionBlocked(
            f"{model_name} version {version} has {VALIDATION_STATUS_TAG}={status or '(not set)'}; "
            f"only a version that passed validation becomes @{CHAMPION}"
        )
    previous = version_with_alias(model_name, CHAMPION)
    registry.set_registered_model_alias(model_name, CHAMPION, version)
    logger.info("%s: @%s is now version %s (was %s)", model_name, CHAMPION, version, previous)
    return Promotion(model_name=model_name, version=version, previous_champion=previous)
