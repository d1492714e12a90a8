/* queue_records - not yet written */
#include "config.h"
