/* transport_local - not yet written */
#include "config.h"
