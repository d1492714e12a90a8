/* privsep - not yet written */
#include "config.h"
