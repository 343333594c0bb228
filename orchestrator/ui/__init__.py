"""`nbctl ui`: a local web dashboard of machines, schedules, jobs and money, over the same store
and core as the CLI (the `ui` extra: Starlette, uvicorn, Jinja2). Nothing here is imported until
`nbctl ui` runs."""
