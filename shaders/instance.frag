#version 330 core
// The colour pass of instance.vert with its layers in the same pass: colour as scene.frag
// (Lambert plus ambient under one directional light fixed in the camera frame, marks from
// marks.glsl, optional luma), which instance the pixel shows, and its camera z.

noperspective in float v_inv_z;
noperspective in vec3 v_position_over_z;
noperspective in vec3 v_normal_obj_over_z;
noperspective in vec3 v_normal_cam_over_z;

uniform vec3 u_albedo;        // [0, 1] RGB
uniform vec3 u_light;         // unit, towards the light, camera frame
uniform int u_grayscale;      // 1: write BT.601 luma to all channels
uniform int u_instance;       // gt_id + 1 of the instance drawn (0 is the background)

const float AMBIENT = 0.35;
const float DIFFUSE = 0.65;
const vec3 LUMA = vec3(0.299, 0.587, 0.114);

layout(location = 0) out vec4 f_color;
layout(location = 1) out int f_instance;
layout(location = 2) out float f_depth;

#include "marks.glsl"

void main() {
    vec3 position = v_position_over_z / v_inv_z;
    vec3 n = normalize(v_normal_obj_over_z);
    vec3 colour = albedo_at(position, n, u_albedo) * (AMBIENT + DIFFUSE * max(0.0, dot(normalize(v_normal_cam_over_z), u_light)));
    if (u_grayscale == 1) {
        colour = vec3(dot(colour, LUMA));
    }
    f_color = vec4(colour, 1.0);
    f_instance = u_instance;
    f_depth = 1.0 / v_inv_z;
}
