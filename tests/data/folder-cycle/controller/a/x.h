// A fixture for scripts/folder-cycles.py: a includes b.
#include "controller/b/y.h"
