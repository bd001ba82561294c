#ifndef NNSERVE_CZLIB_SHIM_H
#define NNSERVE_CZLIB_SHIM_H
#include <zlib.h>
#endif
