#!/usr/bin/env bash
# A step no fixer can help: the data it needs is newer than the tool.
echo "reading schema version from db/VERSION" >&2
echo "error: database schema version 7 is newer than this tool supports (max 5)" >&2
exit 3
