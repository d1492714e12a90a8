/* lookup_rcpt - not yet written */
#include "config.h"
