// A fixture for scripts/folder-cycles.py: b includes a, closing the cycle.
#include "controller/a/x.h"
