#version 330 core
// Lambert plus ambient under one directional light fixed in the camera frame, marks painted
// procedurally from the object-frame position and normal (marks.glsl; gpu_render/scene/marks.py
// holds the same rules in numpy for the CPU reference), optional luma output.

noperspective in float v_inv_z;
noperspective in vec3 v_position_over_z;
noperspective in vec3 v_normal_obj_over_z;
noperspective in vec3 v_normal_cam_over_z;

uniform vec3 u_albedo;        // [0, 1] RGB
uniform vec3 u_light;         // unit, towards the light, camera frame
uniform int u_grayscale;      // 1: write BT.601 luma to all channels

const float AMBIENT = 0.35;
const float DIFFUSE = 0.65;
const vec3 LUMA = vec3(0.299, 0.587, 0.114);

out vec4 f_color;

#include "marks.glsl"

void main() {
    // Perspective-correct attributes (see scene.vert); normalising drops the common 1/z.
    vec3 position = v_position_over_z / v_inv_z;
    vec3 n = normalize(v_normal_obj_over_z);
    vec3 colour = albedo_at(position, n, u_albedo) * (AMBIENT + DIFFUSE * max(0.0, dot(normalize(v_normal_cam_over_z), u_light)));
    if (u_grayscale == 1) {
        colour = vec3(dot(colour, LUMA));
    }
    f_color = vec4(colour, 1.0);
}
