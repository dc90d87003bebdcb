"""Running the runbook notebooks headless: papermill with inputs checked first (execute), and the
IPython kernel it starts (kernel).
"""
