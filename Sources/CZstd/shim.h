#ifndef NNSERVE_CZSTD_SHIM_H
#define NNSERVE_CZSTD_SHIM_H
#include <zstd.h>
#endif
