/* daemon - not yet written */
#include "config.h"
