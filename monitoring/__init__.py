"""Monitoring: metrics, Evidently reports, workspace and dashboards, the monitoring job."""
