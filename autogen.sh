#!/bin/sh
# inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
# autogen.sh: generate configure and Makefile.in from a git checkout.
set -e
cd "$(dirname "$0")"
autoreconf -fi
