#version 330 core
// Whole silhouettes of instance.vert: 1 wherever the instance drawn alone covers the pixel.

out float f_cover;

void main() {
    f_cover = 1.0;
}
