/* envelope - not yet written */
#include "config.h"
