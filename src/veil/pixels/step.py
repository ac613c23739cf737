"""The pixel step of one file, as `veil.pipeline.deidentify_file` runs it.

It is split around the header de-identification, which works in place and removes what the
pixel step needs (the input's identifying values, the device that decides the known regions)::

    step = PixelStep.start(original, plan.pixels)   # before: risk flag, the step's inputs
    ... de-identify the header in place ...
    result = step.finish(output)                    # after: pixels cleaned in ``output``
    why = step.refusal(result)                      # not None: quarantine, with this reason
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from veil.pixels.clean import PixelInputs, clean, prepare, step_needed
from veil.pixels.model import AtRisk, BurnedInRisk, PixelResult
from veil.pixels.risk import burned_in_risk
from veil.pixels.settings import PixelSettings


@dataclass(frozen=True)
class PixelStep:
    """The risk flag of one input (always) and, where Clean Pixel Data applies, its inputs."""

    settings: PixelSettings
    risk: BurnedInRisk
    inputs: PixelInputs | None = None

    @classmethod
    def start(cls, original: Dataset, settings: PixelSettings) -> PixelStep:
        """Header only (~90 us): no pixel is decoded unless the file will be cleaned."""
        needed = settings.clean and step_needed(original, settings)
        inputs = prepare(original, settings) if needed else None
        return cls(settings, burned_in_risk(original), inputs)

    def finish(self, output: Dataset) -> PixelResult | None:
        """Clean the de-identified dataset's pixels in place; None where the step did not run."""
        if self.inputs is None:
            return None
        return clean(output, self.inputs, self.settings)

    def refusal(self, result: PixelResult | None) -> str | None:
        """Why the pixels keep this file from being written (quarantine), or None."""
        if result is not None and not result.status.safe:
            return result.problem or "the pixels could not be cleaned"
        quarantines = self.settings.at_risk is AtRisk.QUARANTINE and not self.settings.clean
        if self.risk.at_risk and quarantines:
            reasons = ", ".join(r.value for r in self.risk.reasons)
            return (
                f"the pixels may carry burned-in text ({reasons}) and the policy "
                "quarantines such files (pixels: burned-in-risk: quarantine); clean them "
                "with the option clean-pixel-data or review them"
            )
        return None
