"""The local web page (``ghqa serve``): ask questions, watch the engine work, read the answers.

Kept free of imports so that registering the command costs the command line nothing; the
server's parts (Starlette, uvicorn, templates) load when ``ghqa serve`` runs."""
