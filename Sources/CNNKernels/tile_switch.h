/* Register tiles are compiled once per row count (a constant `mr`, so the accumulators stay in
   registers); these switches call TILE(1) ... TILE(N) for a row count known only at run time. */
#ifndef NNSERVE_TILE_SWITCH_H
#define NNSERVE_TILE_SWITCH_H

#define NN_FOR_TILE_ROWS_4(mr, TILE) \
    switch (mr) { case 1: TILE(1); break; case 2: TILE(2); break; case 3: TILE(3); break; default: TILE(4); break; }

#define NN_FOR_TILE_ROWS_6(mr, TILE) \
    switch (mr) { case 1: TILE(1); break; case 2: TILE(2); break; case 3: TILE(3); break; \
                  case 4: TILE(4); break; case 5: TILE(5); break; default: TILE(6); break; }

#define NN_FOR_TILE_ROWS_8(mr, TILE) \
    switch (mr) { case 1: TILE(1); break; case 2: TILE(2); break; case 3: TILE(3); break; case 4: TILE(4); break; \
                  case 5: TILE(5); break; case 6: TILE(6); break; case 7: TILE(7); break; default: TILE(8); break; }

#endif
