"""The fault lab: real servers on loopback that reproduce every fault.

>>> from runbooks.lab import running
>>> with running("tls-untrusted") as lab:
...     report = diagnose(lab.base_url, env=lab.env)
"""

from .scenarios import LAB_API_KEY, LAB_HOST, SCENARIOS, Running, Scenario, running, start

__all__ = ["LAB_API_KEY", "LAB_HOST", "SCENARIOS", "Running", "Scenario", "running", "start"]
