"""The page and the terminal views of a person watching agents work.

    facts      pure facts of a run read off API objects: elapsed, last activity, where it stopped,
               why a step failed, tool calls paired with their results
    reads      the reads behind every view, through ``MissionsClient.call`` (the one path to the data)
    feed       change detection: ``PRAGMA data_version`` on the embedded store, polling elsewhere
    app        the Starlette app: HTML pages (Jinja2, autoescaped), live updates over Server-Sent Events
    terminal   ``missions-mcp runs`` and ``missions-mcp show``
    commands   the argparse wiring of ``ui``, ``runs`` and ``show``

Nothing here is imported by the MCP server: starting ``missions-mcp`` on stdio never loads Jinja2.
"""
