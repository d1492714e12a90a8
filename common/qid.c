/* qid - not yet written */
#include "config.h"
