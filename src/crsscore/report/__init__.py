"""crsscore.report: the TRIPOD+AI report of a derivation (one self-contained HTML, optional PDF)."""

from crsscore.report.build import build_report

__all__ = ["build_report"]
