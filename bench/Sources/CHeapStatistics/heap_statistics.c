#include "heap_statistics.h"
