/* maildir - not yet written */
#include "config.h"
