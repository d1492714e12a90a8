/* spool - not yet written */
#include "config.h"
