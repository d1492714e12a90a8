/* queue_ram - not yet written */
#include "config.h"
