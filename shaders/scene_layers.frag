#version 330 core
// The --layers pass of scene.vert: camera z per pixel (0 where nothing is drawn).

noperspective in float v_inv_z;

out float f_depth;

void main() {
    f_depth = 1.0 / v_inv_z;
}
