// OpenBLAS's CBLAS interface plus openblas_set_num_threads (declared in its cblas.h).
#include <cblas.h>
