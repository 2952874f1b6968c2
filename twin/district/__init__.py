"""The district pilot: the official Lozenets boundary, its neighbourhoods and the analysis grid."""
