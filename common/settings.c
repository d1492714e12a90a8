/* settings - not yet written */
#include "config.h"
