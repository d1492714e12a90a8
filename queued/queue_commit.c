/* queue_commit - not yet written */
#include "config.h"
