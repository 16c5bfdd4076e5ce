#version 330 core
// Lambert plus ambient under one directional light fixed in the camera frame, marks painted
// procedurally from the object-frame position and normal (gpu_render/scene/marks.py holds the
// same rules in numpy for the CPU reference), optional luma output.

noperspective in float v_inv_z;
noperspective in vec3 v_position_over_z;
noperspective in vec3 v_normal_obj_over_z;
noperspective in vec3 v_normal_cam_over_z;

uniform vec3 u_albedo;        // [0, 1] RGB
uniform vec3 u_light;         // unit, towards the light, camera frame
uniform int u_grayscale;      // 1: write BT.601 luma to all channels

uniform int u_mark_kind;      // 0 none, 1 face, 2 disc, 3 sphere X
uniform vec3 u_mark_centre;   // face/disc: centre; sphere X: (sin(width/2), arc, cos(dot radius))
uniform vec3 u_mark_normal;   // unit outward normal of the marked face
uniform float u_mark_radius;  // disc radius
uniform vec3 u_mark_color;
uniform vec3 u_mark_color2;   // sphere X: the dot

const float FLAT_COS = 0.999;
const float AMBIENT = 0.35;
const float DIFFUSE = 0.65;
const vec3 LUMA = vec3(0.299, 0.587, 0.114);

out vec4 f_color;

vec3 albedo_at(vec3 p, vec3 n) {
    if (u_mark_kind == 1) {
        if (dot(n, u_mark_normal) >= FLAT_COS) return u_mark_color;
    } else if (u_mark_kind == 2) {
        vec3 d = p - u_mark_centre;
        if (dot(n, u_mark_normal) >= FLAT_COS && dot(d, d) <= u_mark_radius * u_mark_radius) return u_mark_color;
    } else if (u_mark_kind == 3) {
        vec3 q = normalize(p);
        if (q.z >= u_mark_centre.z) return u_mark_color2;
        bool along_x = abs(q.y) <= u_mark_centre.x && atan(abs(q.x), q.z) <= u_mark_centre.y;
        bool along_y = abs(q.x) <= u_mark_centre.x && atan(abs(q.y), q.z) <= u_mark_centre.y;
        if (along_x || along_y) return u_mark_color;
    }
    return u_albedo;
}

void main() {
    // Perspective-correct attributes (see scene.vert); normalising drops the common 1/z.
    vec3 position = v_position_over_z / v_inv_z;
    vec3 n = normalize(v_normal_obj_over_z);
    vec3 colour = albedo_at(position, n) * (AMBIENT + DIFFUSE * max(0.0, dot(normalize(v_normal_cam_over_z), u_light)));
    if (u_grayscale == 1) {
        colour = vec3(dot(colour, LUMA));
    }
    f_color = vec4(colour, 1.0);
}
