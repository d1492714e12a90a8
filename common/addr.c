/* addr - not yet written */
#include "config.h"
