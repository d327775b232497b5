/* Loads a model and reports what it holds, through the installed header and library. */
#include <stdio.h>
#include <swiftlet.h>

int main(int argc, char **argv) {
    swl_model *model = NULL;
    if (argc != 2) {
        fprintf(stderr, "usage: consumer MODEL.swl\n");
        return 2;
    }
    if (swl_model_load(argv[1], NULL, &model) != SWL_OK) {
        fprintf(stderr, "consumer: %s\n", swl_last_error());
        return 1;
    }
    printf("swiftlet %s, family %s, %u input(s)\n", swl_version(), swl_model_family(model),
           (unsigned)swl_model_input_count(model));
    swl_model_free(model);
    return 0;
}
