/* queue_store - not yet written */
#include "config.h"
