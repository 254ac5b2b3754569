"""`breakglass lockout USER` / `breakglass unlock USER` (docs/lockout.md).

    runbook.py     the Lockout and Unlock runbooks and their steps
    presets.py     Account, State and the Preset interface; django.py and generic.py implement it
    sessions.py    decoding Django session payloads (signed JSON, cache pickles) without Django
    snapshot.py    the 0600 prior-state file unlock restores from (the journal holds its digest)
    probe.py       sends a captured session or token to the app and says accepted or refused
"""
