"""The PRC public-holiday calendar (cn_holidays.json) for working-time deadlines."""
