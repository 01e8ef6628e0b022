"""Live monitoring: poll the rooms on air, evaluate alert rules, notify the team.

Layer: sits beside ``livekit.reports``; imports ``analysis``, ``store``, ``api`` and ``config``.
"""
