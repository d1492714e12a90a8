/* map - not yet written */
#include "config.h"
