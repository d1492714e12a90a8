/* scheduler - not yet written */
#include "config.h"
