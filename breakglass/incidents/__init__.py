"""Incidents (docs/incidents.md): one open incident per project tags every run started while it
is open; its story is read back from the tamper-evident journals.

    record.py      the incident's own record: a hash-chained journal `incidents/ID.jsonl` in the
                   state (engine/journal.py's chain; shared through S3 like a run's journal),
                   open / note / close, which incident a command or a run means
    timeline.py    the story in order: the incident's events and those of every run tagged with
                   it, each chain verified
    followups.py   what is still open when the incident closes: one small function per kind
                   (a run left unfinished, an override to review, a checklist item failing)
    postmortem.py  the draft written at close: summary, timeline, changes and their evidence,
                   time to containment, follow-ups, checklist items touched (Markdown and HTML)
    tell.py        the notice to the owners of incident_response when it opens and closes

The engine knows only the id (RunOptions.incident): the CLI looks the open incident up when it
builds a run's options, so data still flows one way (commands -> incidents -> engine, state).
"""
