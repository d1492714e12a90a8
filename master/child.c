/* child - not yet written */
#include "config.h"
