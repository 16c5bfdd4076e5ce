#version 330 core
// The --layers pass of scene.vert: camera z per pixel (0 where nothing is drawn).

in vec3 v_position;
in vec3 v_normal_obj;
in vec3 v_normal_cam;
in float v_depth;

out float f_depth;

void main() {
    f_depth = v_depth;
}
