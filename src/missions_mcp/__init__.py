"""missions-mcp: the Telnyx AI Missions API as an MCP server, with an embedded offline API."""

__version__ = "0.1.0"
