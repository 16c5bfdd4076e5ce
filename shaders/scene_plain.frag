#version 330 core
// scene.frag for objects without a mark: Lambert plus ambient under one directional light
// fixed in the camera frame, optional luma output. It reads only the camera-frame normal, so
// the linker drops the other varyings of scene.vert and each fragment interpolates fewer.
// Same constants and arithmetic as scene.frag's unmarked path: the pixels are the same.

noperspective in vec3 v_normal_cam_over_z;

uniform vec3 u_albedo;        // [0, 1] RGB
uniform vec3 u_light;         // unit, towards the light, camera frame
uniform int u_grayscale;      // 1: write BT.601 luma to all channels

const float AMBIENT = 0.35;
const float DIFFUSE = 0.65;
const vec3 LUMA = vec3(0.299, 0.587, 0.114);

out vec4 f_color;

void main() {
    vec3 colour = u_albedo * (AMBIENT + DIFFUSE * max(0.0, dot(normalize(v_normal_cam_over_z), u_light)));
    if (u_grayscale == 1) {
        colour = vec3(dot(colour, LUMA));
    }
    f_color = vec4(colour, 1.0);
}
