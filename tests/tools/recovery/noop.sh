#!/bin/sh
# Fake agent tier that looks at the task and changes nothing.
echo "noop: nothing to change"
exit 0
