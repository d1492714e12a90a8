/* queue_bdb - not yet written */
#include "config.h"
